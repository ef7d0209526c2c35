# setuptools needs this file for one thing pyproject.toml cannot say: cffi's build step.
from setuptools import setup

setup(cffi_modules=["eventbench_c_example/build_ffi.py:ffibuilder"])

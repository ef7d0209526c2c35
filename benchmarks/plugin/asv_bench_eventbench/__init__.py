"""eventbench's asv benchmark types (found by asv_runner through the ``asv_bench`` name prefix)."""

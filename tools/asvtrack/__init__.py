"""eventbench's asv tooling, run by the nox sessions (never installed with the package).

verdict.py  the rules: which change of which figure is a regression (pure, unit-tested)
figures.py  reading asv's stored results for one machine and commit
asvcli.py   running asv itself (machine, run, publish) the same way everywhere
history.py  `nox -s history`: asv over commit ranges, samples recorded
regress.py  `nox -s regress`: base against head, a markdown summary, exit 1 on a regression
canary.py   `nox -s canary`: a scratch history with known regressions, checked end to end
site.py     `nox -s publish / preview / pages`: the site, served and looked at in Chromium
vendor.py   the site's scripts from the npm registry (checked), so it works without CDNs
"""

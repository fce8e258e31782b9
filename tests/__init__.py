"""StoreLink tests: a package, so that tests/edge_agent etc. never shadow the real packages."""

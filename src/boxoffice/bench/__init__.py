"""``boxoffice bench``: measure the hot path and a whole ticket drop on this machine."""

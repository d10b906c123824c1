"""``boxoffice bench``: measure the hot path, the database's write path, a whole ticket
drop and memory on this machine, each against a boxoffice server of its own.

A layer on top of the product: it drives boxoffice through its API and its public
modules, and boxoffice never imports it."""

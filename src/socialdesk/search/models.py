"""The search domain has no ORM tables: importing this registers the index DDL with the metadata."""

import socialdesk.search.index  # noqa: F401

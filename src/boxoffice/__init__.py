"""boxoffice: concert ticketing with a fair virtual waiting room."""

"""Call control: the registrar and location service, and the B2BUA that connects calls."""

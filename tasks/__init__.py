"""Task registrations. Importing `tasks` registers every collection below."""

from tasks import demo  # noqa: F401  (registers the demo collection)

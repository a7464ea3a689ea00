"""What the tests share, and nothing that is itself a test: fake clients and clocks, the
emulator's and the commands' fixtures, a user's shell, the throwaway PostgreSQL, the one
polling helper (:func:`tests.support.wait.until`), the instants runner, the log scan.

Test modules import from here, never from one another nor from a ``conftest.py``
(``tests/project/test_layout.py`` checks it)."""

"""The pipeline as a library: manifests → desired state → live state → plan → apply, plan files,
and import. Nothing here prints or exits: every function returns values (plans, outcomes,
problems as exceptions from `palsync.errors`) and says what it is doing through the callbacks
it is given. The command line (`palsync.cli`), the GitHub Action and the tests call these same
functions; a `cli/` module only parses options, calls one of them, renders and exits.

    session   where a run works: manifest directory, lock file, client or emulator, guard
    loading   manifest files → validated, resolved `Desired` (and secrets registered)
    planning  concurrent fetch of the live state → `Plan`
    planfile  saved plans: writing, reading, binding to an account, staleness
    applying  the whole of `apply`: lease, plan, staleness, confirmation, `Applier`
    importing the whole of `import`: live PALs → manifests and lock entries
"""

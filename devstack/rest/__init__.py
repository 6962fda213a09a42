"""/rest/v1: the PostgREST-compatible API of the devstack gateway."""

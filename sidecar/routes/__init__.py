"""The sidecar's HTTP routes, one module per endpoint family: parse the request, call an
account step (sidecar/accounts/) or an RPC, answer. Every route names its stable
`operation_id` (`<what>_<action>`); `dependencies` gives them the Supabase API and the caller's
token."""

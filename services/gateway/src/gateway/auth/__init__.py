"""Who may call the API: tokens with scopes (stored hashed in PostgreSQL), the guard every
route passes, the token and sign-in endpoints, the admin token made at first start, and the
cap on event streams per token."""

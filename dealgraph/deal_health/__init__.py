"""Computing deal health off the request path: the facts it is computed from (calls, agent results, people, a
search for pricing) and the pool that recomputes it durably. Above `services` and `search`, which it uses."""

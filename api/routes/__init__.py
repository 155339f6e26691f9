"""HTTP routes, one router per resource (a server-rendered `web` router can join them)."""

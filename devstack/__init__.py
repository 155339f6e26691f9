"""Local servers for tests and the demo: PostgreSQL and Mosquitto as child processes we own.

Not part of any deployment: production runs these as real services (see deploy/).
"""

"""Lua scripts more than one area runs on Redis (each area registers what it uses)."""

# Delete a lease or a claim only if it still holds our value: releasing must never
# drop what another process has taken since ours expired.
COMPARE_AND_DELETE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

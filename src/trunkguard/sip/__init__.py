"""A focused asyncio SIP user-agent client: just what probing a carrier trunk needs.

See the README's design section for why this is written here rather than taken from a library.
"""

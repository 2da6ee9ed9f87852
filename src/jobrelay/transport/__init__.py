"""transport layer: run commands on job hosts and move files (local, ssh, rsync, ssh-free).

Import the module you need (``transport.ssh``, ``transport.local``...): the
package itself imports nothing, so reading a platform's settings does not
bring in asyncio.
"""

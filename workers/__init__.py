"""Code that runs on GPU nodes (or this machine's CPU) and knows nothing of Django.

It takes plain data (job specs, paths) and reports through interfaces; the
Django apps adapt it to the database and the channel layer.
"""

"""The operator's console: the dashboard's pages and their static files, served by the gateway.

Plain HTML, CSS and our own JavaScript (`static/`, shipped in the package): no build step, no
file from anywhere else. The pages read the API like any client (`fetch`, `EventSource`).
"""

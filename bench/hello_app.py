"""The throughput ceiling for bench/portal_load.py: a bare Flask app that says hello.

Served by the same gunicorn command line as the portal, so the difference between the
two is what the portal itself costs per request (routing, session, database, templates).
"""

from flask import Flask

app = Flask(__name__)


@app.route("/")
def hello():
    return "hello"

"""The local server: HTTP -> API Gateway proxy events -> the Chalice app.

Never deployed to Lambda.
"""

"""Certificates: issued by a worker job after a passed exam, downloaded, verified publicly."""

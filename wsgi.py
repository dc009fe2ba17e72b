"""WSGI entry point: `gunicorn wsgi:app` (gevent worker) or `flask --app wsgi run`.

gunicorn's gevent worker monkey-patches before it imports this module (so never use
--preload); the development server runs the same app on threads.
"""
from app import create_app
from app.jobs import celery_app

app = create_app()
celery = celery_app  # the worker's entry point: `celery -A wsgi:celery worker` (app.jobs)

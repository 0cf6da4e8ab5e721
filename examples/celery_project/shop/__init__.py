"""An example shop back office run by Celery: payments, e-mails, stock sync and reports."""

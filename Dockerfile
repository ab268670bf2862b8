# The service image: the same locked dependencies as development, no build tools at run time.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app

COPY pyproject.toml constraints.txt README.md ./
COPY config ./config
COPY clinic ./clinic
COPY diary ./diary
COPY fhir_export ./fhir_export
COPY manage.py ./
RUN pip install --no-cache-dir -c constraints.txt . \
    && useradd --system --home /app service \
    && DEBUG=false SECRET_KEY=collectstatic-only-not-used-at-run-time-xxxxxxxxxxxxxxxxxxxxxxxx ALLOWED_HOSTS=build \
       python manage.py collectstatic --noinput

USER service
EXPOSE 8000
CMD ["gunicorn", "-c", "config/gunicorn.py", "config.wsgi"]

"""What every other package builds on: settings, errors, schemas, logging. Imports nothing of the
layer; imports no psycopg and no botocore."""

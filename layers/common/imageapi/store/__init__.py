"""PostgreSQL and S3: connections, SQL, bucket keys, migrations, and the reconcile job over both.
Imports core only."""

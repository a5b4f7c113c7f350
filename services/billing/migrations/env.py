from services.billing.adapters.orm import metadata
from services.common.db.migrations import run_in_alembic_env

run_in_alembic_env(metadata)

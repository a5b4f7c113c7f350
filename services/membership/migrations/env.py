from services.common.db.migrations import run_in_alembic_env
from services.membership.adapters.orm import metadata

run_in_alembic_env(metadata)

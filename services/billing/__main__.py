from services.billing.bootstrap import bootstrap
from services.billing.config import BillingSettings
from services.common.logging import configure

settings = BillingSettings()
configure(settings.service_name, settings.log_level)
bootstrap(settings).run()

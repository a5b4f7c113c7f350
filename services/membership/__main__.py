from services.common.logging import configure
from services.membership.bootstrap import bootstrap
from services.membership.config import MembershipSettings

settings = MembershipSettings()
configure(settings.service_name, settings.log_level)
bootstrap(settings).run()

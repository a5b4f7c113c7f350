from services.common.logging import configure
from services.notify.bootstrap import bootstrap
from services.notify.config import NotifySettings

settings = NotifySettings()
configure(settings.service_name, settings.log_level)
bootstrap(settings).run()

from services.common.logging import configure
from services.erasure.bootstrap import bootstrap
from services.erasure.config import ErasureSettings

settings = ErasureSettings()
configure(settings.service_name, settings.log_level)
bootstrap(settings).run()

"""Import every model module so that Base.metadata is complete (Alembic, tests)."""

from sakskydd.accounts import models as accounts  # noqa: F401
from sakskydd.analyses import models as analyses  # noqa: F401
from sakskydd.assets import models as assets  # noqa: F401
from sakskydd.audit import models as audit  # noqa: F401
from sakskydd.auditing import models as auditing  # noqa: F401
from sakskydd.crypto import models as crypto  # noqa: F401
from sakskydd.followup import models as followup  # noqa: F401
from sakskydd.notifications import models as notifications  # noqa: F401
from sakskydd.organisations import models as organisations  # noqa: F401
from sakskydd.oversight import models as oversight  # noqa: F401
from sakskydd.procurements import models as procurements  # noqa: F401
from sakskydd.vetting import models as vetting  # noqa: F401

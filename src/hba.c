/* pg_hba.conf rules for auth_type = hba (in progress). */
#include "hba.h"

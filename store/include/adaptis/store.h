#pragma once
// Public interface of the store library: the SQLite access the run store and the profile store share.
#include "adaptis/store/sqlite_statement.h"

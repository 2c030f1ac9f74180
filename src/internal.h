/*
 * internal.h -- every internal header of libflor, for the unit tests and
 * benchmarks that reach into the library.  Library files include the
 * headers of their own layer and of the layers below it instead
 * (docs/architecture.md).
 */
#ifndef FLOR_INTERNAL_H
#define FLOR_INTERNAL_H

#include "base/base.h"
#include "db/db.h"
#include "store/store.h"
#include "git/git.h"
#include "remote/remote.h"
#include "pg/pg.h"
#include "team/team.h"
#include "project/project.h"
#include "checkpoint/checkpoint.h"
#include "record/record.h"
#include "replay/source.h"
#include "replay/replay.h"

#endif /* FLOR_INTERNAL_H */

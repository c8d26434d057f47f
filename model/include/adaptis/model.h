#pragma once
// Public interface of the model library: model specs, clusters and per-layer costs.
#include "adaptis/model/cluster.h"
#include "adaptis/model/cost_model.h"
#include "adaptis/model/cost_table.h"
#include "adaptis/model/error.h"
#include "adaptis/model/json_file.h"
#include "adaptis/model/kernel_efficiency.h"
#include "adaptis/model/layer_work.h"
#include "adaptis/model/model_loader.h"
#include "adaptis/model/model_spec.h"
#include "adaptis/model/recompute.h"

#pragma once
// Public interface of the planner library: the Plan IR, schedule generators, validator and
// simulator. Pure functions over data; the CLI, TUI, GUI, tests and benchmarks all call these.
#include "adaptis/planner/plan.h"
#include "adaptis/planner/plan_builder.h"
#include "adaptis/planner/schedules.h"
#include "adaptis/planner/simulator.h"
#include "adaptis/planner/stage_costs.h"
#include "adaptis/planner/validator.h"
#include "adaptis/planner/text_gantt.h"
#include "adaptis/planner/plan_file.h"
#include "adaptis/planner/optimizer.h"
#include "adaptis/planner/lower_bound.h"
#include "adaptis/model/problem_limits.h"

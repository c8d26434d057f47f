#pragma once
// Public interface of the executor library (runs a Plan for real and records the timeline).

// version.h — sdlora's version string (printed by `sdlora version`, written into metadata).
#pragma once

#define SDLORA_VERSION "0.1.0"

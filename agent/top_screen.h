#pragma once
// The terminal under `l7tap top` (ncurses): draws lines, reads keys without waiting.
#include <string>
#include <vector>

namespace l7tap::agent {

class TopScreen {
 public:
  TopScreen();   // takes the terminal (initscr)
  ~TopScreen();  // gives it back (endwin)
  TopScreen(const TopScreen&) = delete;
  TopScreen& operator=(const TopScreen&) = delete;

  int width() const;
  int height() const;
  void Draw(const std::vector<std::string>& lines);
  // A key pressed since the last call, or -1. A resize is handled here (and reported as -1).
  int Key();
};

}  // namespace l7tap::agent

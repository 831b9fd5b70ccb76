#include "agent/top_screen.h"

#include <curses.h>

namespace l7tap::agent {

TopScreen::TopScreen() {
  initscr();
  cbreak();  // keys arrive one by one; Ctrl-C still stops the agent (SIGINT)
  noecho();
  nodelay(stdscr, TRUE);
  keypad(stdscr, TRUE);
  curs_set(0);
}

TopScreen::~TopScreen() { endwin(); }

int TopScreen::width() const { return COLS; }
int TopScreen::height() const { return LINES; }

void TopScreen::Draw(const std::vector<std::string>& lines) {
  erase();
  for (size_t i = 0; i < lines.size() && int(i) < LINES; ++i) {
    const std::string& l = lines[i];
    if (i == 0 || l.rfind("SERVICE", 0) == 0 || l.rfind("HTTP/gRPC:", 0) == 0 || l.rfind("DNS:", 0) == 0)
      attron(A_BOLD);
    mvaddnstr(int(i), 0, lines[i].c_str(), COLS);
    attroff(A_BOLD);
  }
  refresh();
}

int TopScreen::Key() {
  const int c = getch();
  if (c == ERR || c == KEY_RESIZE) return -1;
  return c;
}

}  // namespace l7tap::agent

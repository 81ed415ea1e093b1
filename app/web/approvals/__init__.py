"""The manager approval screen: every open decision on someone else's work, in one list."""

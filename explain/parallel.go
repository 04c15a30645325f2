package explain

// minParallelWork is about the fewest multiply-adds worth spreading over
// goroutines: starting and waking one costs microseconds.
const minParallelWork = 1 << 17

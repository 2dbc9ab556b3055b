//! Redis session store (in progress).

/** One colour per version, newest first (the newest in the accent colour): the chart and its table agree. */
const VERSION_COLOURS = ['#1f4fd1', '#16794a', '#c77700', '#7a3fb5', '#b3261e', '#00838f', '#6d4c41'];
const OTHER = '#9aa8c2';

export const colourOf = (index: number): string => VERSION_COLOURS[index] ?? OTHER;

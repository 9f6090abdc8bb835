set terminal pngcairo size 1000,600
set output 'stages.png'
set style data histograms
set style histogram cluster gap 1
set style fill solid border -1
set logscale y
set ylabel 'microseconds'
set xtics rotate by -20
set key top left
set title 'grove: p50 and p99 per stage (3 durable members, 127.0.0.1)'
plot 'stages.dat' using 2:xtic(1) title 'p50, 1 subs', '' using 3 title 'p99, 1 subs', 'stages.dat' using 4:xtic(1) title 'p50, 10 subs', '' using 5 title 'p99, 10 subs', 'stages.dat' using 6:xtic(1) title 'p50, 100 subs', '' using 7 title 'p99, 100 subs'
unset xtics
set xtics
unset style
set style data lines
set logscale x
unset logscale y
set xlabel 'submit -> subscriber read, microseconds'
set ylabel 'fraction'
set key bottom right
set output 'cdf.png'
set title 'CDF, grove vs etcd put -> watch, same run'
plot 'cdf-1.dat' using 2:1 title 'grove, 1 subs', 'cdf-1.dat' using 3:1 title 'etcd, 1 watchers', 'cdf-10.dat' using 2:1 title 'grove, 10 subs', 'cdf-10.dat' using 3:1 title 'etcd, 10 watchers', 'cdf-100.dat' using 2:1 title 'grove, 100 subs', 'cdf-100.dat' using 3:1 title 'etcd, 100 watchers'
unset logscale x
unset xlabel
set terminal svg size 1000,600
set output 'stages.svg'
set style data histograms
set style histogram cluster gap 1
set style fill solid border -1
set logscale y
set ylabel 'microseconds'
set xtics rotate by -20
set key top left
set title 'grove: p50 and p99 per stage (3 durable members, 127.0.0.1)'
plot 'stages.dat' using 2:xtic(1) title 'p50, 1 subs', '' using 3 title 'p99, 1 subs', 'stages.dat' using 4:xtic(1) title 'p50, 10 subs', '' using 5 title 'p99, 10 subs', 'stages.dat' using 6:xtic(1) title 'p50, 100 subs', '' using 7 title 'p99, 100 subs'
unset xtics
set xtics
unset style
set style data lines
set logscale x
unset logscale y
set xlabel 'submit -> subscriber read, microseconds'
set ylabel 'fraction'
set key bottom right
set output 'cdf.svg'
set title 'CDF, grove vs etcd put -> watch, same run'
plot 'cdf-1.dat' using 2:1 title 'grove, 1 subs', 'cdf-1.dat' using 3:1 title 'etcd, 1 watchers', 'cdf-10.dat' using 2:1 title 'grove, 10 subs', 'cdf-10.dat' using 3:1 title 'etcd, 10 watchers', 'cdf-100.dat' using 2:1 title 'grove, 100 subs', 'cdf-100.dat' using 3:1 title 'etcd, 100 watchers'
unset logscale x
unset xlabel

#!/usr/bin/env python3
"""The FD floor that random horizontal flips put on a Fashion-MNIST model: writes 1,000 real train images (seeded
choice) as PNGs with labels.csv in three folders: plain, half (each flipped with probability 1/2, what a model
trained with flips learns) and all (every one flipped). Score each with
  ./d4j evaluate --images DIR --data fashion-mnist --class-accuracy
Needs numpy and the Debian package dataset-fashion-mnist. Run in an empty directory."""
import gzip, struct, zlib, numpy as np, os, sys
d='/usr/share/datasets/fashion-mnist/'
img=np.frombuffer(gzip.open(d+'train-images-idx3-ubyte.gz').read()[16:],np.uint8).reshape(-1,28,28)
lab=np.frombuffer(gzip.open(d+'train-labels-idx1-ubyte.gz').read()[8:],np.uint8)
def png(path,a):
    raw=b''.join(b'\x00'+a[y].tobytes() for y in range(a.shape[0]))
    def chunk(t,b): return struct.pack('>I',len(b))+t+b+struct.pack('>I',zlib.crc32(t+b)&0xffffffff)
    open(path,'wb').write(b'\x89PNG\r\n\x1a\n'+chunk(b'IHDR',struct.pack('>IIBBBBB',a.shape[1],a.shape[0],8,0,0,0,0))+chunk(b'IDAT',zlib.compress(raw))+chunk(b'IEND',b''))
rng=np.random.default_rng(123)
idx=rng.choice(len(img),1000,replace=False)
for name,mode in [('plain',0),('half',1),('all',2)]:
    os.makedirs(name,exist_ok=True)
    with open(name+'/labels.csv','w') as f:
        f.write('file,label\n')
        for j,i in enumerate(idx):
            a=img[i]
            if mode==2 or (mode==1 and rng.random()<0.5): a=a[:, ::-1].copy()
            fn='%05d.png'%j; png(name+'/'+fn,np.ascontiguousarray(a)); f.write('%s,%d\n'%(fn,lab[i]))
